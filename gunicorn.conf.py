"""Read by gunicorn when started from the checkout without `-c`: see gateway.gunicorn_conf."""

from gateway.gunicorn_conf import logger_class, on_starting  # noqa: F401
