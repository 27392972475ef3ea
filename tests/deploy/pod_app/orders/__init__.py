"""Stand-in for the orders consumer's code (ci/kafka-keda-values.yaml)."""
