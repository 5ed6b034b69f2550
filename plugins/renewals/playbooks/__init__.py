"""Playbooks: the renewal processes as data files (include/playbooks/*.yaml), validated at load."""

from renewals.playbooks.loader import PlaybookError, load_playbooks
from renewals.playbooks.model import ANCHORS, CHANNELS, ROLES, Due, Playbook, Touchpoint

__all__ = [
    "ANCHORS",
    "CHANNELS",
    "ROLES",
    "Due",
    "Playbook",
    "PlaybookError",
    "Touchpoint",
    "load_playbooks",
]
