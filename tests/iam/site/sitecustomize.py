"""Put on PYTHONPATH of a process under test: records its AWS calls when STREAMPROC_TEST_AWS_CALLS is set."""

import os

if os.environ.get("STREAMPROC_TEST_AWS_CALLS"):
    from tests.iam import recorder

    recorder.install()
