#!/usr/bin/env bash
# Verifier-side TPM throughput (MakeCredential RSA/ECC, quote verification) with BenchmarkDotNet.
# Usage: bash bench/tpm/run.sh            (from the repository root; ~2 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet run -c Release --project bench/Tpm.Bench/Kldload.Tpm.Bench.csproj -- --filter '*VerifierBenchmarks*' --job short "$@"
