"""The people integration tests act as: two users who must never see each other's work, and an
admin who sees everyone's."""

from __future__ import annotations

from app.auth import User

TESTER = User("tester@example.com", "Tester")
ALICE = User("alice@example.com", "Alice")
BOB = User("bob@example.com", "Bob")
ADMIN = User("admin@example.com", "Admin", is_admin=True)
