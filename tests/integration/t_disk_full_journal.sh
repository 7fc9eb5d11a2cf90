#!/usr/bin/env bash
# t_disk_full_journal.sh -- t_disk_full.sh with appendfsync everysec: the
# list written before the disk fills is in the typed-op journal
# (server/journal.h), and its record is refused by the full disk.
DISK_FULL_FSYNC=everysec exec "$(dirname "$0")/t_disk_full.sh"
