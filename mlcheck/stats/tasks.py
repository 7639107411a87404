"""The tasks mlcheck gates, apart from the statistics so that a command line can name them
without importing numpy and scipy."""

from __future__ import annotations

from typing import Literal, TypeGuard, get_args

__all__ = ["TASKS", "TASK_CHOICES", "Task", "TaskChoice", "as_task", "is_task", "is_task_choice"]

#: The tasks mlcheck gates; a model's outputs are P(class 1), class probabilities or values.
Task = Literal["binary", "multiclass", "regression"]
#: What a run may ask for: a task, or `auto` (the model and its outputs decide).
TaskChoice = Literal["auto", "binary", "multiclass", "regression"]

TASKS: tuple[Task, ...] = get_args(Task)
TASK_CHOICES: tuple[TaskChoice, ...] = get_args(TaskChoice)


def is_task(value: object) -> TypeGuard[Task]:
    """Whether `value` is one of `TASKS`."""
    return value in TASKS


def is_task_choice(value: object) -> TypeGuard[TaskChoice]:
    """Whether `value` is one of `TASK_CHOICES` (a task or `auto`)."""
    return value in TASK_CHOICES


def as_task(value: str) -> Task:
    """`value` as a task; anything else (`auto` too) is a ValueError naming the tasks."""
    if not is_task(value):
        raise ValueError(f"task {value!r} is not one of {', '.join(TASKS)}")
    return value
