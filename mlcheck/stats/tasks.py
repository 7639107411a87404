"""The tasks mlcheck gates, apart from the statistics so that a command line can name them
without importing numpy and scipy."""

__all__ = ["TASKS", "TASK_CHOICES"]

#: The tasks mlcheck gates; a model's outputs are P(class 1), class probabilities or values.
TASKS = ("binary", "multiclass", "regression")
#: What a run may ask for: a task, or `auto` (the model and its outputs decide).
TASK_CHOICES = ("auto", *TASKS)
