using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using LowBitQuant.Internal;

namespace LowBitQuant.Benchmarks.Quantizers;

/// <summary>
/// Not a BenchmarkDotNet class: a one-shot measurement of whether HeRo-Q's learned log d (option B) beats its α search on
/// seeded synthetic layers. Run with <c>dotnet run -c Release -- heroq-learned [steps] [lr]</c>; prints a Markdown table.
/// </summary>
internal static partial class HeroQLearnedExperiment
{
    public static void Run(string[] args)
    {
        int steps = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200;
        double lr = args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 0.01;
        Console.WriteLine($"steps {steps}, lr {lr}; layer 64x256, 1024 tokens, group 64, asymmetric");
        Console.WriteLine("| seed | bits | inner | search loss | learned loss (real inner) | change | surrogate (fixed-grid STE) | kept | learn time |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (int seed in new[] { 1, 2, 3 })
        {
            var layer = SyntheticLayer.Create(64, 256, 1024, seed);
            foreach (int bits in new[] { 2, 3, 4 })
            {
                var scheme = new QuantizationScheme(bits, 64);
                foreach (var (name, inner) in new (string, IQuantizer)[] { ("rtn", new RtnQuantizer(scheme)), ("gptq", new GptqQuantizer(new GptqOptions(scheme))) })
                {
                    var sw = Stopwatch.StartNew();
                    new HeroQQuantizer(new HeroQOptions { Seed = seed }, inner).Quantize(layer.Weights, layer.Hessian);
                    double searchTime = sw.Elapsed.TotalSeconds;
                    sw.Restart();
                    var q = new HeroQQuantizer(new HeroQOptions { Seed = seed, LearnedSteps = steps, LearningRate = lr }, inner).Quantize(layer.Weights, layer.Hessian);
                    double learnTime = sw.Elapsed.TotalSeconds - searchTime;
                    string note = q.Diagnostics.Notes.Single(s => s.StartsWith("learned d won", StringComparison.Ordinal) || s.StartsWith("search won", StringComparison.Ordinal));
                    var m = Numbers().Match(note);
                    string chosen = q.Diagnostics.Notes.First(s => s.StartsWith("chosen", StringComparison.Ordinal));
                    var surrogate = Surrogate().Match(note);
                    double s0 = double.Parse(surrogate.Groups[1].Value, CultureInfo.InvariantCulture), s1 = double.Parse(surrogate.Groups[2].Value, CultureInfo.InvariantCulture);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {seed} | {bits} | {name} | {m.Groups[2].Value} | {m.Groups[1].Value} | {m.Groups[3].Value}% | {100 * ((s1 / s0) - 1):+0.0;-0.0}% | {(note.StartsWith("learned", StringComparison.Ordinal) ? "learned" : "search")} ({chosen[8..]}) | {learnTime:F2} s |"));
                }
            }
        }
    }

    [GeneratedRegex(@"proxy loss ([0-9.eE+-]+) vs search ([0-9.eE+-]+) \(([+-][0-9.]+)%\)")]
    private static partial Regex Numbers();

    [GeneratedRegex(@"STE loss ([0-9.eE+-]+) -> ([0-9.eE+-]+)")]
    private static partial Regex Surrogate();
}
