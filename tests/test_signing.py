"""Request signing, V1 (HMAC) and V3 (EIP-712): docs' vectors, the fast path against eth-account,
nonce ordering under concurrency and bad clocks, and secrets kept out of repr and errors."""

from __future__ import annotations

import asyncio
import random
import threading
from urllib.parse import parse_qsl

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from helpers import DEMO_KEY, DEMO_SIGNER, DEMO_USER
from simclient import typed_message

from aster_mm.exchange.signing import MAINNET_CHAIN_ID, TESTNET_CHAIN_ID, Eip712Signer, HmacSigner, NonceClock, mask

DEMO_ORDER = {
    "symbol": "ASTERUSDT",
    "type": "LIMIT",
    "side": "BUY",
    "timeInForce": "GTC",
    "quantity": "20",
    "price": "0.5",
}
DEMO_MSG = (
    "symbol=ASTERUSDT&type=LIMIT&side=BUY&timeInForce=GTC&quantity=20&price=0.5"
    "&nonce=1748310859508867&user=0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e"
    "&signer=0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0"
)
# The docs publish no expected V3 signature. These were computed outside this module: the EIP-712
# digest by eth_account.messages.encode_typed_data (domain AsterSignTransaction / 1 / chainId /
# zero address, Message(string msg) = DEMO_MSG), signed by eth_keys' pure-Python NativeECCBackend
# (RFC 6979, low s, v = 27 + recovery id), so neither coincurve nor this module produced them.
DEMO_SIG_MAINNET = (
    "0x0a56c5923ebf3524475c5f631940ec4c0e41dbd300ad28198d1915d8f3ca49ce"
    "26fd1aeb8b0c3079133595da0de38322ae7e860e0c76d032c4a491d27c1430b01c"
)
DEMO_SIG_TESTNET = (
    "0xf91e000376f360c1661cf0fbc79a816e915dce485c616bd49c5e35c6cbc5ba50"
    "42ccf75a2bffd282676dbf698087a73982bfd1491a993eeedc276f6827c94a8c1c"
)
NOW_MS = 1748310859508.867  # the synced time that gives the demo's nonce 1748310859508867


def reference_signature(msg: str, key: str | bytes, chain_id: int = MAINNET_CHAIN_ID) -> str:
    signable = encode_typed_data(full_message=typed_message(msg, chain_id))
    return Account.sign_message(signable, private_key=key).signature.to_0x_hex()


def split(sent: str) -> tuple[str, str]:
    """The signed part and the signature of a parameter string; the signature must come last."""
    msg, _, sig = sent.rpartition("&signature=")
    assert msg and "&" not in sig
    return msg, sig


def chain_text(exc: BaseException | None) -> str:
    """Every message in an exception's chain, as a traceback could show them."""
    texts = []
    while exc is not None:
        texts.append(f"{type(exc).__name__}: {exc} {exc.args!r}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(texts)


def demo_signer(chain_id: int = MAINNET_CHAIN_ID) -> Eip712Signer:
    return Eip712Signer(DEMO_USER, DEMO_SIGNER, DEMO_KEY, chain_id)


# ----- V1 ---------------------------------------------------------------------------------------


def test_v1_docs_test_vector():
    # V1 doc, "SIGNED Endpoint Examples for POST /fapi/v1/order"
    signer = HmacSigner(
        "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83",
        "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9",
    )
    params = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("quantity", "1"),
        ("price", "9000"),
        ("timeInForce", "GTC"),
    ]
    signed = signer.sign(params, 1591702613943.9)
    assert signed.params == (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943"
        "&signature=3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
    )
    assert signed.headers == {"X-MBX-APIKEY": "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"}


def test_v1_user_stream_sends_the_key_header_only():
    signer = HmacSigner("my-api-key-0123456789", "my-secret-0123456789")
    signed = signer.sign_stream({}, NOW_MS)
    assert signed == ("", {"X-MBX-APIKEY": "my-api-key-0123456789"})
    assert signer.sign_stream({"listenKey": "abc"}, NOW_MS).params == "listenKey=abc"


def test_v1_secret_and_full_key_stay_out_of_repr_and_hint():
    signer = HmacSigner("AKEY-0123456789-FULLKEY", "SECRET-abcdef-987654")
    for text in (repr(signer), str(signer), signer.hint):
        assert "SECRET" not in text and "FULLKEY" not in text and "0123456789" not in text
    assert signer.hint == "V1 key AKEY…LKEY"
    assert signer.version == 1


# ----- V3: known answers -------------------------------------------------------------------------


def test_v3_demo_order_signs_to_the_independently_computed_constant():
    signed = demo_signer().sign(DEMO_ORDER, NOW_MS)
    assert signed.params == f"{DEMO_MSG}&signature={DEMO_SIG_MAINNET}"
    assert signed.headers == {}


def test_v3_testnet_chain_id_changes_the_signature():
    signed = demo_signer(TESTNET_CHAIN_ID).sign(DEMO_ORDER, NOW_MS)
    assert signed.params == f"{DEMO_MSG}&signature={DEMO_SIG_TESTNET}"


def test_v3_string_signed_is_the_string_sent_and_recovers_to_the_signer():
    signer = demo_signer()
    params = {"symbol": "BTCUSDT", "newClientOrderId": "a:b/c d+é&x=1", "price": "9000.10"}
    sent = signer.sign(params, NOW_MS).params
    msg, sig = split(sent)
    assert Account.recover_message(encode_typed_data(full_message=typed_message(msg)), signature=sig) == DEMO_SIGNER
    # what the exchange parses back is what the caller asked for, in order, with the auth fields after
    assert parse_qsl(sent) == [
        *params.items(),
        ("nonce", "1748310859508867"),
        ("user", DEMO_USER),
        ("signer", DEMO_SIGNER),
        ("signature", sig),
    ]
    assert sent.isascii()


def test_v3_empty_params_listen_key_call_is_signed_too():
    signer = demo_signer()
    sent = signer.sign_stream({}, NOW_MS).params
    msg, sig = split(sent)
    assert msg == f"nonce=1748310859508867&user={DEMO_USER}&signer={DEMO_SIGNER}"
    assert sig == reference_signature(msg, DEMO_KEY)


# ----- V3: fast path against eth-account ----------------------------------------------------------


def random_text(rng: random.Random) -> str:
    alphabet = "aZ09.-_~ &=+%/:?#\"'é中€😀\n\t\x00"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))


def test_v3_fast_path_equals_eth_account_over_random_keys_and_messages():
    rng = random.Random(20260330)
    for i in range(300):
        account = Account.from_key(rng.randbytes(32))
        chain_id = rng.choice((MAINNET_CHAIN_ID, TESTNET_CHAIN_ID, 1, 2**64 + 7))
        signer = Eip712Signer(DEMO_USER, account.address, account.key.hex(), chain_id)
        params = [(f"k{j}{random_text(rng)}", random_text(rng)) for j in range(rng.randrange(0, 5))]
        sent = signer.sign(params, 1.7e12 + i).params
        msg, sig = split(sent)
        assert sig == reference_signature(msg, account.key, chain_id), (i, msg)
        raw = random_text(rng)  # non-ASCII and control characters straight into msg, not url-encoded
        assert signer.signature(raw) == reference_signature(raw, account.key, chain_id), (i, raw)


def test_v3_accepts_key_and_addresses_in_any_hex_case_and_sends_checksummed_addresses():
    signer = Eip712Signer(DEMO_USER.lower(), DEMO_SIGNER.upper().replace("0X", "0x"), DEMO_KEY[2:].upper())
    assert signer.sign(DEMO_ORDER, NOW_MS).params == f"{DEMO_MSG}&signature={DEMO_SIG_MAINNET}"


# ----- V3: nonces ---------------------------------------------------------------------------------


def test_nonce_follows_the_clock_in_microseconds():
    nonces = NonceClock()
    assert nonces.next(1_700_000_000_000.0) == 1_700_000_000_000_000
    assert nonces.next(1_700_000_000_005.25) == 1_700_000_000_005_250


def test_nonce_strictly_increases_with_a_frozen_or_backward_clock():
    nonces = NonceClock()
    frozen = [nonces.next(1_700_000_000_000.0) for _ in range(1000)]
    assert frozen == list(range(1_700_000_000_000_000, 1_700_000_000_001_000))
    assert nonces.next(1_699_999_990_000.0) == 1_700_000_000_001_000  # the clock stepped back 10 s
    assert nonces.next(1_700_000_000_002.0) == 1_700_000_000_002_000  # and caught up again


def test_nonces_in_sent_requests_are_unique_across_threads_with_a_frozen_clock():
    signer = demo_signer()
    sent: list[str] = []
    start = threading.Barrier(8)

    def worker():
        start.wait()
        batch = [signer.sign({"symbol": "BTCUSDT"}, NOW_MS).params for _ in range(250)]
        sent.extend(batch)  # list.extend is atomic under the GIL

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    nonces = [int(dict(parse_qsl(s))["nonce"]) for s in sent]
    assert len(nonces) == 2000
    assert sorted(nonces) == list(range(1748310859508867, 1748310859508867 + 2000))


async def test_nonces_strictly_increase_across_asyncio_tasks_in_send_order():
    signer = demo_signer()
    clock = iter([NOW_MS - (i % 7) for i in range(500)])  # a jittery clock that keeps stepping back
    order: list[int] = []

    async def request():
        await asyncio.sleep(0)
        order.append(int(dict(parse_qsl(signer.sign({}, next(clock)).params))["nonce"]))

    await asyncio.gather(*(request() for _ in range(500)))
    assert len(order) == 500
    assert all(a < b for a, b in zip(order, order[1:]))


# ----- V3: credentials and secrets ---------------------------------------------------------------


def test_v3_key_never_in_repr_str_hint_or_errors():
    signer = demo_signer()
    key_hex = DEMO_KEY[2:]
    for text in (repr(signer), str(signer), signer.hint, repr(signer.sign(DEMO_ORDER, NOW_MS))):
        assert key_hex not in text.lower()
    assert signer.hint == "V3 user 0x63DD…7C4e signer 0x21cF…1bb0"
    assert signer.version == 3
    with pytest.raises(TypeError):
        __import__("pickle").dumps(signer)


def test_v3_signer_not_matching_the_key_raises_naming_aster_signer_without_the_key():
    other = Account.from_key(b"\x11" * 32).address
    with pytest.raises(ValueError) as err:
        Eip712Signer(DEMO_USER, other, DEMO_KEY)
    assert "ASTER_SIGNER" in str(err.value)
    assert DEMO_KEY[2:] not in chain_text(err.value).lower()


@pytest.mark.parametrize(
    "bad_key",
    [
        "0x" + "00" * 32,  # zero is not a valid secp256k1 key
        "f" * 64,  # above the curve order
        DEMO_KEY[:-1],  # one digit short
        DEMO_KEY[:-1] + "g",  # not hex
    ],
)
def test_v3_bad_key_raises_naming_the_variable_without_echoing_the_key(bad_key):
    with pytest.raises(ValueError) as err:
        Eip712Signer(DEMO_USER, DEMO_SIGNER, bad_key)
    assert "ASTER_SIGNER_KEY" in str(err.value)
    assert bad_key.removeprefix("0x") not in chain_text(err.value)
    # a traceback shows no underlying library error either
    assert err.value.__cause__ is None and (err.value.__context__ is None or err.value.__suppress_context__)


@pytest.mark.parametrize(
    "user, signer, name",
    [
        ("0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4", DEMO_SIGNER, "ASTER_USER"),  # 39 digits
        ("0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4E", DEMO_SIGNER, "ASTER_USER"),  # checksum typo
        (DEMO_USER, "21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0", "ASTER_SIGNER"),  # no 0x
    ],
)
def test_v3_malformed_addresses_are_refused_by_name(user, signer, name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        Eip712Signer(user, signer, DEMO_KEY)


@pytest.mark.parametrize("name", ["nonce", "user", "signer", "signature", "timestamp", "recvWindow"])
def test_auth_parameters_cannot_be_passed_in(name):
    for signer in (demo_signer(), HmacSigner("key-0123456789abcdef", "secret")):
        with pytest.raises(ValueError, match=name):
            signer.sign({name: "1"}, NOW_MS)


def test_non_string_values_are_refused():
    with pytest.raises(TypeError):
        demo_signer().sign({"quantity": 1}, NOW_MS)


def test_mask_shows_only_the_ends_and_nothing_of_short_values():
    assert mask(DEMO_USER) == "0x63DD…7C4e"
    assert mask("short-secret") == "…"


# ----- recvWindow's bounds, a V1 call without parameters, a V3 signer's chain ---------------------
@pytest.mark.parametrize("recv_window, ok", [(0, False), (1, True), (60_000, True), (60_001, False)])
def test_recv_window_bounds_are_the_exchanges_1_to_60000_ms(recv_window, ok):
    if ok:
        assert HmacSigner("key-0123456789", "secret", recv_window).recv_window == recv_window
    else:
        with pytest.raises(ValueError):
            HmacSigner("key-0123456789", "secret", recv_window)


def test_a_v1_call_without_parameters_starts_with_recv_window():
    """Bug: a leading '&' (an empty first parameter) when there are no business parameters."""
    signed = HmacSigner("key-0123456789", "secret", 5000).sign({}, 1_700_000_000_000)
    assert signed.params.startswith("recvWindow=5000&timestamp=1700000000000&signature=")


def test_a_v3_signer_knows_its_chain():
    signer = Eip712Signer(DEMO_USER, DEMO_SIGNER, DEMO_KEY, TESTNET_CHAIN_ID)
    assert signer.chain_id == TESTNET_CHAIN_ID and "714" in repr(signer)
