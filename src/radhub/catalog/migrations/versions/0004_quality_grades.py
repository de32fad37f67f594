"""quality grades

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 00:00:00.000000

Reviewers' grades of a study's image quality, 1-3 (PRODUCT.md A8, seed 002);
every grade is kept, the latest is the study's.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_grades",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("study_pk", sa.Integer(), sa.ForeignKey("studies.pk"), nullable=False),
        sa.Column("grade", sa.SmallInteger(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("graded_by", sa.String(128), nullable=False),
        sa.Column("org_pk", sa.Integer(), nullable=False),
        sa.Column("graded_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_quality_grades_study_pk", "quality_grades", ["study_pk"])


def downgrade() -> None:
    op.drop_index("ix_quality_grades_study_pk", table_name="quality_grades")
    op.drop_table("quality_grades")
