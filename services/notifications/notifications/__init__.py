"""The notifications service: subscriptions, and a fan-out that operators can scale."""
