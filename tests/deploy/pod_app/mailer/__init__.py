"""Stand-in for the mailer's code (ci/rabbitmq-hpa-values.yaml)."""
