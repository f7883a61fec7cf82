"""EIP-712 hashing and signer recovery for the two kinds of V3 signature the docs show:

* an agent's signature of `Message(string msg)` over the parameter string as sent (V3 doc, "Example of POST
  /fapi/v3/order": domain AsterSignTransaction / "1" / chainId / the zero address);
* a main wallet's signature of a typed struct of the request's capitalised parameters, with the domain's
  chainId = `signatureChainId` (demo/aster-code.py `sign_v3_eip712`, e.g. ApproveBuilder; ccxt signs it
  the same way).

Only `string` and `uint256` fields occur, which is all this encodes. Recovery uses libsecp256k1 (coincurve).
"""

from __future__ import annotations

import coincurve
from eth_hash.auto import keccak

DOMAIN_TYPE = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
Struct = tuple[str, tuple[tuple[str, str], ...]]  # (type name, ((field, type), ...))
MESSAGE: Struct = ("Message", (("msg", "string"),))
APPROVE_BUILDER: Struct = (
    "ApproveBuilder",
    (
        ("Builder", "string"),
        ("MaxFeeRate", "string"),
        ("BuilderName", "string"),
        ("AsterChain", "string"),
        ("User", "string"),
        ("Nonce", "uint256"),
    ),
)


def domain_separator(chain_id: int) -> bytes:
    name, version = keccak(b"AsterSignTransaction"), keccak(b"1")
    return keccak(DOMAIN_TYPE + name + version + chain_id.to_bytes(32, "big") + bytes(32))


def struct_hash(struct: Struct, values: dict) -> bytes:
    name, fields = struct
    encoded = keccak(f"{name}({','.join(f'{kind} {field}' for field, kind in fields)})".encode())
    for field, kind in fields:
        value = values.get(field, "")
        encoded += int(value).to_bytes(32, "big") if kind == "uint256" else keccak(str(value).encode())
    return keccak(encoded)


def digest(domain: bytes, struct: Struct, values: dict) -> bytes:
    return keccak(b"\x19\x01" + domain + struct_hash(struct, values))


def address_of(public_key: coincurve.PublicKey) -> str:
    """The lowercase 0x address of a secp256k1 public key: the last 20 bytes of keccak(x || y)."""
    return "0x" + keccak(public_key.format(compressed=False)[1:])[-20:].hex()


def recover(message_digest: bytes, signature: str) -> str:
    """The lowercase address that made `signature` (r || s || v as 130 hex digits, with or without "0x"),
    or "" when it is not a valid signature."""
    text = signature.removeprefix("0x")
    if len(text) != 130:
        return ""
    try:
        rsv = bytes.fromhex(text)
    except ValueError:
        return ""
    if rsv[64] not in (27, 28):
        return ""
    try:
        key = coincurve.PublicKey.from_signature_and_message(
            rsv[:64] + bytes([rsv[64] - 27]), message_digest, hasher=None
        )
    except ValueError:
        return ""
    return address_of(key)
