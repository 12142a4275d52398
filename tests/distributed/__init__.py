"""The distributed form, on loopback: several Prefect API servers, workers and webhooks."""
