"""Where a card's data comes from when it is not a file: a SQL table or query (`format: sql`)."""

from __future__ import annotations

from pydantic import Field, model_validator

from mleng.card.base import StrictModel


class SqlSource(StrictModel):
    """A table or a query read through SQLAlchemy; the database URL is read from the environment
    variable `url_env` when the data is loaded, so no card holds a password."""

    url_env: str = Field(default="MLENG_DATA_URL", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    table: str | None = Field(default=None, min_length=1)
    query: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def check_one_of_table_or_query(self) -> SqlSource:
        if self.table is not None and self.query is not None:
            raise ValueError(
                "sql sets both table and query; keep one: table reads a whole table, "
                "query reads the rows a SELECT returns"
            )
        if self.table is None and self.query is None:
            raise ValueError(
                "sql needs a table (e.g. table: sales, or schema.sales) "
                "or a query (e.g. query: SELECT * FROM sales)"
            )
        return self
