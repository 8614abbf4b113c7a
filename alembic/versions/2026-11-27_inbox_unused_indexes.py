"""inbox: drop the sender_hash and receipt_ref indexes, which no query reads (every message paid to write them)

Revision ID: 3b9e2f6d1a70
Revises: 8667c2916b0e
Create Date: 2026-11-27 08:25:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3b9e2f6d1a70"
down_revision: str | None = "8667c2916b0e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_message_receipt_ref")
        batch_op.drop_index("ix_inbound_message_sender_hash")


def downgrade() -> None:
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_message_sender_hash", ["sender_hash"], unique=False)
        batch_op.create_index("ix_inbound_message_receipt_ref", ["receipt_ref"], unique=False)
