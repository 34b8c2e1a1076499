using BenchmarkDotNet.Running;
using LowBitQuant.Benchmarks.Quantizers;

if (args.Length > 0 && args[0] == "heroq-learned")
{
    HeroQLearnedExperiment.Run(args);
    return;
}

if (args.Length > 0 && args[0] == "layer-split")
{
    LowBitQuant.Benchmarks.Models.LayerSplitExperiment.Run(args);
    return;
}

if (args.Length > 0 && args[0] == "matmul-cputime")
{
    LowBitQuant.Benchmarks.Models.MatMulCpuTimeExperiment.Run(args);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
