using BenchmarkDotNet.Running;
using LowBitQuant.Benchmarks.Quantizers;

if (args.Length > 0 && args[0] == "heroq-learned")
{
    HeroQLearnedExperiment.Run(args);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
