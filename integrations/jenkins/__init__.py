"""The Jenkins runner (``runner="jenkins"``), registered through the ``runwright.runners``
entry points like any third-party runner; needs the ``jenkins`` extra (python-jenkins)."""

from runwright.integrations.jenkins.runner import JenkinsRunner

__all__ = ["JenkinsRunner"]
