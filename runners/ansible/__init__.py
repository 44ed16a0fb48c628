"""The ``ansible`` runner: playbooks and ad-hoc checks through ansible-runner (the
``ansible`` extra: ``pip install 'runwright[ansible]'``)."""

from runwright.runners.ansible.runner import ACTIONS, AnsibleRunner

__all__ = ["ACTIONS", "AnsibleRunner"]
