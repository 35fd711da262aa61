"""Training, in files named by their job (the trainer process runs `loop.main_entry`):

- `loop`: the run read top to bottom: inputs, tracked run, setup, the step loop, evaluation,
  the final model; SIGTERM/SIGINT checkpoint and end the run KILLED.
- `inputs`: everything loaded and checked before an MLflow run exists (and the one sampler).
- `setup`: model, optimiser, LR schedule, precision; restored from a checkpoint on resume.
- `step`: one optimiser step, with gradient caching for `grad_accum_steps` > 1.
- `distributed`: torchrun ranks, the run id broadcast, barriers, gradient sums.
- `run_record`: the MLflow run's params and tags, the job record, step metrics, FAILED marks.
- `evaluation`: zero-shot evaluation during and after training, tables as artifacts.
- `saving`: checkpoints and the final model folder; a full disk is one line.
- `checkpoint`: the atomic checkpoint folder that resumes bit for bit.
- `system_metrics`: GPU load points for MLflow about every 10 s on GPU runs.

Every module here imports torch; only the trainer process imports them.
"""
