"""The worker: its settings from the environment and the pipeline service that builds and runs the stages."""
