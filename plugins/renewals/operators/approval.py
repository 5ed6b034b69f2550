"""The run's one approval request: a Human-in-the-loop task (the standard provider's HITLOperator)
that lists the irreversible steps classification left 'awaiting_approval' and waits in Airflow's
Required Actions for staff to approve them or hold chosen members.

What is asked is only known at run time, so ``execute`` reads it from the ledger and fills in the
subject, the body and the choice of members before the request is written. With nothing awaiting
approval (approvals off, or none due) the task is skipped and no request is made. The answer
(or, after ``RENEWALS_APPROVAL_TIMEOUT``, the default: hold all) is the task's result, which
``carry_out_approvals`` records and acts on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import AirflowSkipException

from renewals.config import Settings
from renewals.decisions.approvals import HOLD_ALL, OPTIONS, ApprovalItem, request_body, request_subject
from renewals.notifications.approval import approval_notifiers

HOLD_DESCRIPTION = "Subscription ids whose step is NOT carried out now (asked again on the next run)."
NOTE_DESCRIPTION = "Why (recorded with the held steps)."


def answer_params(subscription_ids: list[str] | None = None) -> dict[str, Param]:
    """The form beside the two options; at run time the hold list offers the members asked about."""
    # examples make the form a multi-select of exactly these ids; the enum keeps the answer to them
    choices = {"examples": subscription_ids, "items": {"type": "string", "enum": subscription_ids}}
    return {
        "hold": Param(
            None,
            type=["null", "array"],
            description=HOLD_DESCRIPTION,
            **(choices if subscription_ids else {"items": {"type": "string"}}),
        ),
        "note": Param(None, type=["null", "string"], description=NOTE_DESCRIPTION),
    }


class StaffApprovalOperator(HITLOperator):
    template_fields = (*HITLOperator.template_fields, "run")

    def __init__(self, *, run: Any, **kwargs: Any) -> None:
        kwargs.pop("params", None)  # the DAG's params (run options) are not part of the answer form
        super().__init__(
            subject="Approve irreversible renewal steps",
            options=OPTIONS,
            defaults=[HOLD_ALL],
            multiple=False,
            params=answer_params(),
            notifiers=approval_notifiers(),
            **kwargs,
        )
        self.run = run

    def execute(self, context: Any) -> Any:
        from renewals.airflow_resources import airflow_resources
        from renewals.pipeline import awaiting_approval
        from renewals.storage.runs import RunContext

        resources = airflow_resources()
        items = awaiting_approval(resources, RunContext.from_xcom(self.run))
        if not items:
            raise AirflowSkipException("No irreversible step awaits approval in this run")
        self.ask(items, resources.settings)
        self.log.info("Asking staff to approve %d step(s): %s", len(items), [item.label for item in items])
        return super().execute(context)

    def ask(self, items: list[ApprovalItem], settings: Settings) -> None:
        """Fill in the request for ``items``: who may answer (RENEWALS_APPROVERS, Airflow's
        assigned users: the api-server refuses anyone else's answer), what and by when."""
        self.subject = request_subject(items)
        self.body = request_body(items, settings.approval_timeout, settings.approvers)
        self.params = ParamsDict(answer_params(sorted({item.subscription_id for item in items})))
        self.assigned_users = [{"id": user_id, "name": name} for user_id, name in settings.approvers] or None
        self.response_timeout = timedelta(seconds=settings.approval_timeout)
