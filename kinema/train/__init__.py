"""Training: data buckets, the loop pieces shared by models (EMA, checkpoints, logs, plots)."""
