"""The GitLab runner (``runner="gitlab"``), registered through the ``runwright.runners`` entry
points like any third-party runner; needs the ``gitlab`` extra (python-gitlab)."""

from runwright.integrations.gitlab.runner import GitLabRunner

__all__ = ["GitLabRunner"]
