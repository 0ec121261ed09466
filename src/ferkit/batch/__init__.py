"""`ferkit batch`: many photos and videos through the recognizer on a process pool or Ray, into
Parquet; resumable. See README.md ("Batch") for the command and the output layout."""

from ferkit.batch.plan import BatchSettings, InputItem, Job, find_inputs, plan_jobs
from ferkit.batch.runner import BatchOutcome, run_batch

__all__ = ["BatchOutcome", "BatchSettings", "InputItem", "Job", "find_inputs", "plan_jobs",
           "run_batch"]
