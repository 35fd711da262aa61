"""Data loading: LAReQA retrieval sets for evaluation, parallel (question, passage) pairs for training."""
