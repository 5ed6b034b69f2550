"""Work lands where staff work: the sync outbox and its targets (Salesforce, HubSpot, GitHub,
signed webhooks), delivered by the run's ``sync`` task after the deliveries."""
