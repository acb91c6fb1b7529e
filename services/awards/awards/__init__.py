"""The awards service: councils decide within their authority, by the law in force on the day."""
