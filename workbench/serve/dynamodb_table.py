"""A DynamoDB table over a plain client, with the calling convention of boto3's `Table` resource (Python values in,
Python values out), for the Lambda's state table and ledger.

A resource costs a cold start ~25 ms of CPU more than a client (its model loaded into classes made at run time), and
it brings a client of its own: each client holds a connection pool, and each new TLS connection costs a handshake
and botocore's load of its CA bundle (~45 ms of CPU, measured in docs/benchmarks.md). Over a plain client, the
ledger shares the idempotency layer's client and so its kept-alive connection. Values are (de)serialized by
boto3's own TypeSerializer and TypeDeserializer, as the resource does: the same items on the wire.
"""

from __future__ import annotations

from typing import Any


class ClientTable:
    """The Table methods the stores call: `get_item`, `put_item`, `update_item`, `delete_item`, and `load`."""

    def __init__(self, client: Any, name: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.client, self.name = client, name
        self._to, self._from = TypeSerializer().serialize, TypeDeserializer().deserialize

    def get_item(self, Key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803 - the resource's names
        reply = self.client.get_item(TableName=self.name, Key=self._wire(Key), **kwargs)
        return {**reply, "Item": self._python(reply["Item"])} if "Item" in reply else reply

    def put_item(self, Item: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        return self.client.put_item(TableName=self.name, Item=self._wire(Item), **self._values(kwargs))

    def update_item(self, Key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        return self.client.update_item(TableName=self.name, Key=self._wire(Key), **self._values(kwargs))

    def delete_item(self, Key: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        return self.client.delete_item(TableName=self.name, Key=self._wire(Key), **kwargs)

    def load(self) -> None:
        """As the resource's: fails if the table is missing or unreachable."""
        self.client.describe_table(TableName=self.name)

    def _wire(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self._to(v) for k, v in values.items()}

    def _python(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self._from(v) for k, v in item.items()}

    def _values(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if "ExpressionAttributeValues" in kwargs:
            kwargs = {**kwargs, "ExpressionAttributeValues": self._wire(kwargs["ExpressionAttributeValues"])}
        return kwargs
