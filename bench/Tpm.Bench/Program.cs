using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Kldload.Tpm.Bench.VerifierBenchmarks).Assembly).Run(args);
