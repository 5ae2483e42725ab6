"""Sealing: the format round-trips per scope, binds to its label, agrees with an independent implementation
(npm @linode/kubeseal-encrypt), the CLI never leaks a value, and the repository's SealedSecrets are whole."""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tooling.model import ENVIRONMENTS, REPO_ROOT
from tooling.seal.crypto import Scope, SealingError, label, public_key_from_pem, unseal
from tooling.seal.manifest import certificate_path, path_for
from tooling.seal.placeholders import CONTRACT
from tooling.seal.store import seal_values

KUBESEAL_ENCRYPT = REPO_ROOT / ".tools" / "node" / "node_modules" / "@linode" / "kubeseal-encrypt"
SECRET = "s3cr3t-value-\u00e9=with=equals"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def repo(tmp_path: Path, key: rsa.RSAPrivateKey) -> Path:
    """A repository skeleton whose dev controller certificate belongs to the test key."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = certificate_path(tmp_path, "dev")
    path.parent.mkdir(parents=True)
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return tmp_path


def _unseal(key: rsa.RSAPrivateKey, encrypted: str, scope: Scope, namespace: str, name: str) -> str:
    return unseal(key, base64.b64decode(encrypted), label(scope, namespace, name)).decode()


@pytest.mark.parametrize("scope", list(Scope))
def test_round_trip_for_each_scope(repo: Path, key: rsa.RSAPrivateKey, scope: Scope) -> None:
    encrypted = seal_values(
        certificate_path(repo, "dev"), "token", "fastapi-dev", scope, {"K": SECRET}, use_kubeseal=False
    )
    assert _unseal(key, encrypted["K"], scope, "fastapi-dev", "token") == SECRET
    raw = base64.b64decode(encrypted["K"])
    assert int.from_bytes(raw[:2], "big") == key.key_size // 8  # the controller's length prefix


@pytest.mark.parametrize(
    ("scope", "elsewhere", "unseals"),
    [
        (Scope.STRICT, ("fastapi-dev", "other-name"), False),
        (Scope.STRICT, ("airflow-dev", "token"), False),
        (Scope.NAMESPACE_WIDE, ("fastapi-dev", "other-name"), True),
        (Scope.NAMESPACE_WIDE, ("airflow-dev", "token"), False),
        (Scope.CLUSTER_WIDE, ("airflow-prod", "other-name"), True),
    ],
)
def test_a_value_unseals_only_where_its_scope_allows(
    repo: Path, key: rsa.RSAPrivateKey, scope: Scope, elsewhere: tuple[str, str], unseals: bool
) -> None:
    encrypted = seal_values(
        certificate_path(repo, "dev"), "token", "fastapi-dev", scope, {"K": SECRET}, use_kubeseal=False
    )
    namespace, name = elsewhere
    if unseals:
        assert _unseal(key, encrypted["K"], scope, namespace, name) == SECRET
    else:
        with pytest.raises(SealingError) as caught:
            _unseal(key, encrypted["K"], scope, namespace, name)
        assert SECRET not in str(caught.value)


@pytest.fixture(scope="module")
def kubeseal_encrypt() -> Path:
    """The npm package, installed (pinned) by the bootstrap target the first time."""
    subprocess.run(["bash", str(REPO_ROOT / "bin" / "bootstrap"), "kubeseal-encrypt"], check=True)
    return KUBESEAL_ENCRYPT / "dist" / "index.cjs"


def test_independent_implementation_seals_what_we_unseal(
    kubeseal_encrypt: Path, key: rsa.RSAPrivateKey
) -> None:
    # @linode/kubeseal-encrypt seals namespace-wide (its OAEP label is the namespace).
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    script = (
        "const { encryptSecretItem } = require(process.argv[1]);"
        "let input = ''; process.stdin.on('data', c => input += c).on('end', async () => {"
        "  const { pem, namespace, value } = JSON.parse(input);"
        "  process.stdout.write(await encryptSecretItem(pem, namespace, value)); });"
    )
    request = json.dumps({"pem": public_pem.decode(), "namespace": "mlflow-prod", "value": SECRET})
    result = subprocess.run(
        ["node", "-e", script, str(kubeseal_encrypt)],
        input=request,
        capture_output=True,
        text=True,
        check=True,
    )
    sealed = result.stdout.strip()
    assert _unseal(key, sealed, Scope.NAMESPACE_WIDE, "mlflow-prod", "any-name") == SECRET
    with pytest.raises(SealingError):
        _unseal(key, sealed, Scope.NAMESPACE_WIDE, "mlflow-dev", "any-name")
    # and the public key PEM it takes is one our loader accepts too
    assert public_key_from_pem(public_pem).public_numbers() == key.public_key().public_numbers()


def _seal_cli(
    repo: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tooling.seal", "secret", "--repo", str(repo), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": "/usr/bin:/bin", **(env or {})},  # no kubeseal: our implementation
    )


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_cli_seals_stdin_into_the_environment_folder(repo: Path, key: rsa.RSAPrivateKey) -> None:
    target = ("--env", "dev", "--namespace", "fastapi-dev", "--name", "slack-webhook")
    result = _seal_cli(
        repo, *target, "--scope", "namespace-wide", stdin=f"# comment\n\nSLACK_WEBHOOK_URL={SECRET}\n"
    )
    assert result.returncode == 0, result.stderr
    path = path_for(repo, "dev", "fastapi-dev", "slack-webhook")
    assert path == repo / "sealed-secrets" / "dev" / "fastapi-dev--slack-webhook.yaml"
    obj = _load(path)
    wide = {"sealedsecrets.bitnami.com/namespace-wide": "true"}
    assert obj["metadata"] == {"name": "slack-webhook", "namespace": "fastapi-dev", "annotations": wide}
    assert obj["spec"]["template"] == {"metadata": obj["metadata"], "type": "Opaque"}
    value = obj["spec"]["encryptedData"]["SLACK_WEBHOOK_URL"]
    assert _unseal(key, value, Scope.NAMESPACE_WIDE, "fastapi-dev", "slack-webhook") == SECRET
    assert SECRET not in path.read_text() + result.stdout + result.stderr


def test_cli_takes_named_environment_variables_and_merges(repo: Path, key: rsa.RSAPrivateKey) -> None:
    target = ("--env", "dev", "--namespace", "mlflow-dev", "--name", "mlflow-s3-credentials")
    first = _seal_cli(repo, *target, "--from-env", "AWS_ACCESS_KEY_ID", env={"AWS_ACCESS_KEY_ID": "id-1"})
    second = _seal_cli(
        repo, *target, "--from-env", "AWS_SECRET_ACCESS_KEY", env={"AWS_SECRET_ACCESS_KEY": SECRET}
    )
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    data = _load(path_for(repo, "dev", "mlflow-dev", "mlflow-s3-credentials"))["spec"]["encryptedData"]
    assert (
        _unseal(key, data["AWS_ACCESS_KEY_ID"], Scope.STRICT, "mlflow-dev", "mlflow-s3-credentials") == "id-1"
    )
    assert (
        _unseal(key, data["AWS_SECRET_ACCESS_KEY"], Scope.STRICT, "mlflow-dev", "mlflow-s3-credentials")
        == SECRET
    )

    other_scope = _seal_cli(repo, *target, "--scope", "cluster-wide", stdin="X=1\n")
    assert other_scope.returncode == 1
    assert "sealed strict, not cluster-wide" in other_scope.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ("--env", "dev", "--namespace", "fastapi-dev", "--name", "t"),
            "NOEQUALS-but-secret\n",
            "stdin line 1: expected KEY=value",
        ),
        (
            ("--env", "dev", "--namespace", "fastapi-dev", "--name", "t"),
            f"bad key={SECRET}\n",
            "stdin line 1: the text before '=' is not a Secret key",
        ),
        (("--env", "dev", "--namespace", "fastapi-dev", "--name", "t"), "", "no values given"),
        (
            ("--env", "qa", "--namespace", "fastapi-qa", "--name", "t"),
            "K=v\n",
            "--env 'qa': not one of dev, prod",
        ),
        (("--env", "dev", "--namespace", "fastapi-prod", "--name", "t"), "K=v\n", "not a namespace of dev"),
        (("--env", "dev", "--namespace", "fastapi-dev", "--name", "Bad_Name"), "K=v\n", "--name 'Bad_Name'"),
        (
            ("--env", "dev", "--namespace", "fastapi-dev", "--name", "t", "--from-env", "UNSET_VAR_X"),
            "",
            "--from-env UNSET_VAR_X",
        ),
    ],
)
def test_cli_refuses_bad_input_in_one_line_without_the_value(
    repo: Path, args: tuple[str, ...], stdin: str, message: str
) -> None:
    result = _seal_cli(repo, *args, stdin=stdin)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("seal: ")
    assert message in result.stderr
    assert SECRET not in result.stderr
    assert "NOEQUALS" not in result.stderr


def test_cli_without_certificate_says_how_to_fetch_it(tmp_path: Path) -> None:
    result = _seal_cli(tmp_path, "--env", "prod", "--namespace", "fastapi-prod", "--name", "t", stdin="K=v\n")
    assert result.returncode == 1
    assert "sealed-secrets/prod/cert.pem: missing: fetch it with `kubeseal --fetch-cert" in result.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_repository_seals_every_contract_secret_with_its_certificate(env: str) -> None:
    public_key = public_key_from_pem(certificate_path(REPO_ROOT, env).read_bytes())
    for contract in CONTRACT:
        path = path_for(REPO_ROOT, env, contract.namespace(env), contract.name)
        obj = _load(path)
        assert obj["metadata"] == {"name": contract.name, "namespace": f"{contract.component}-{env}"}
        assert set(obj["spec"]["encryptedData"]) == set(contract.keys)
        for value in obj["spec"]["encryptedData"].values():
            assert int.from_bytes(base64.b64decode(value)[:2], "big") == public_key.key_size // 8
    for path in (REPO_ROOT / "sealed-secrets" / env).iterdir():
        assert "PRIVATE KEY" not in path.read_text(), f"{path}: a private key must never be committed"
        if path.suffix == ".yaml":
            assert all(
                doc["kind"] in {"SealedSecret", "Namespace"} for doc in yaml.safe_load_all(path.read_text())
            )


def test_environments_have_different_controller_certificates() -> None:
    dev, prod = (certificate_path(REPO_ROOT, env).read_bytes() for env in ("dev", "prod"))
    assert public_key_from_pem(dev).public_numbers() != public_key_from_pem(prod).public_numbers()


def test_kubeseal_when_installed_gets_the_secret_on_stdin_only(repo: Path, key: rsa.RSAPrivateKey) -> None:
    # kubeseal is a GitHub release binary, unreachable here: a stand-in records how it is called and seals
    # with our implementation, so the test checks what we hand kubeseal and how we read its output.
    bin_dir = repo / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "kubeseal"
    stand_in.write_text(
        f"#!{sys.executable}\n"
        "import base64, json, sys, yaml\n"
        f"sys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "from tooling.seal.crypto import Scope, label, public_key_from_pem, seal\n"
        "args = sys.argv[1:]\n"
        "secret = json.load(sys.stdin)\n"
        f"open({str(repo / 'calls.json')!r}, 'w').write(json.dumps({{'argv': args, 'stdin': secret}}))\n"
        "scope = Scope(args[args.index('--scope') + 1])\n"
        "key = public_key_from_pem(open(args[args.index('--cert') + 1], 'rb').read())\n"
        "meta = secret['metadata']\n"
        "bound = label(scope, meta['namespace'], meta['name'])\n"
        "data = {k: base64.b64encode(seal(key, base64.b64decode(v), bound)).decode()"
        " for k, v in secret['data'].items()}\n"
        "print(yaml.safe_dump({'kind': 'SealedSecret', 'spec': {'encryptedData': data}}))\n"
    )
    stand_in.chmod(0o755)
    result = _seal_cli(
        repo,
        *("--env", "dev", "--namespace", "airflow-dev", "--name", "fastapi-reload-token"),
        stdin=f"RELOAD_SECRET_TOKEN={SECRET}\n",
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    calls = json.loads((repo / "calls.json").read_text())
    assert SECRET not in " ".join(calls["argv"])
    assert calls["argv"][calls["argv"].index("--scope") + 1] == "strict"
    assert base64.b64decode(calls["stdin"]["data"]["RELOAD_SECRET_TOKEN"]).decode() == SECRET
    obj = _load(path_for(repo, "dev", "airflow-dev", "fastapi-reload-token"))
    value = obj["spec"]["encryptedData"]["RELOAD_SECRET_TOKEN"]
    assert _unseal(key, value, Scope.STRICT, "airflow-dev", "fastapi-reload-token") == SECRET
