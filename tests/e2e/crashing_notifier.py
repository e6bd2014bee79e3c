"""The notifier, run as ``python -m tests.e2e.crashing_notifier ADDRESS``: exactly
``python -m services.notifier``, except that it dies (os._exit: no clean-up, as SIGKILL) right
after the SMTP server accepted the email to ADDRESS and before that email is recorded as sent.
The crash test's process (test_mail_crash.py); production code only has the seam."""

from __future__ import annotations

import logging
import os
import runpy
import sys

import asyncpg

from services.notifier.mailer import MailQueue

CRASH_EXIT_CODE = 70


def crash_after_accepting_to(address: str) -> None:
    def accepted(self: MailQueue, email: asyncpg.Record) -> None:
        if email["recipient_email"].lower() == address.lower():
            logging.getLogger(__name__).warning("crashing between SMTP acceptance and recording")
            os._exit(CRASH_EXIT_CODE)

    MailQueue.accepted = accepted  # type: ignore[method-assign]


if __name__ == "__main__":
    crash_after_accepting_to(sys.argv[1])
    runpy.run_module("services.notifier", run_name="__main__", alter_sys=True)
