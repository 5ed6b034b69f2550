"""Slack through the connection ``renewals_slack`` (an Incoming Webhook, connection type
``slackwebhook``): ``transport`` posts with the retry policy, ``outbox`` queues staff posts during
the delivery and posts them in the publish step, ``blocks`` holds the Block Kit building blocks and
``messages`` every message the pipeline posts (payment, deactivation, CTA, run summary, failure)."""
