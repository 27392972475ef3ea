"""Stand-in for the invoices consumer's code (ci/sqs-keda-values.yaml)."""
