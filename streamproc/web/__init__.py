"""The stats page on the worker's Faust web server: /pipeline/ dashboard, JSON API, /healthz/ and /metrics.

Pure: health, lag, throughput, html, pages, api. Adapters' users: monitor, lag_reader, metrics, views.
Wiring: routes (registers the views as Faust pages and starts the monitor with the app).
"""
