namespace LowBitQuant.Cli;

/// <summary>Options of the CLI that choose and configure a quantizer.</summary>
internal sealed record MethodOptions(string Method, QuantizationScheme Scheme)
{
    public bool ActOrder { get; init; }

    public bool StaticGroups { get; init; }

    public double? Damping { get; init; }

    public string? Inner { get; init; }

    /// <summary>Search the grid range before quantizing: RTN and GPTQ's clip search, DASH-Q's range candidates.</summary>
    public bool Search { get; init; }

    /// <summary>HeRo-Q: include the Hadamard rotation (in the pipeline, the residual-stream and per-head rotations).</summary>
    public bool Rotation { get; init; } = true;

    /// <summary>DASH-Q: integer zero points, so the result fits integer-zero formats (GPTQ, compressed-tensors).</summary>
    public bool IntegerZeros { get; init; }
}

/// <summary>The one place the CLI maps method names to quantizers.</summary>
internal static class QuantizerFactory
{
    /// <summary>Every method name the CLI accepts, in the order the demo shows them.</summary>
    public static readonly string[] Methods = ["rtn", "gptq", "dashq", "heroq"];

    /// <summary>DASH-Q's range search: 41 candidate ranges around min–max (algorithms/dashq.md).</summary>
    private const int DashQRangeCandidates = 41;

    /// <summary>Creates the quantizer; unknown methods get a clear error.</summary>
    public static IQuantizer Create(MethodOptions options)
    {
        string method = options.Method.ToLowerInvariant();
        if (!Methods.Contains(method))
        {
            throw new ArgumentException($"Unknown method '{options.Method}'; expected one of {string.Join(", ", Methods)}.", "--method");
        }

        return method switch
        {
            "rtn" => new RtnQuantizer(options.Scheme, options.Search ? new ClipSearch() : null),
            "gptq" => new GptqQuantizer(new GptqOptions(options.Scheme)
            {
                ColumnOrder = !options.ActOrder ? GptqColumnOrder.Natural : options.StaticGroups ? GptqColumnOrder.ActOrderStaticGroups : GptqColumnOrder.ActOrder,
                Dampening = options.Damping ?? 0.01,
                ClipSearch = options.Search ? new ClipSearch() : null,
            }),
            "dashq" => new DashQQuantizer(new DashQOptions(options.Scheme)
            {
                IntegerZeroPoint = options.IntegerZeros,
                RangeCandidates = options.Search ? DashQRangeCandidates : 0,
            }),
            _ => CreateHeroQ(options),
        };
    }

    /// <summary>HeRo-Q around the inner method named by <c>--inner</c> (default rtn), itself built by <see cref="Create"/>.</summary>
    private static IQuantizer CreateHeroQ(MethodOptions options)
    {
        string inner = (options.Inner ?? "rtn").ToLowerInvariant();
        if (inner == "heroq")
        {
            throw new ArgumentException("HeRo-Q cannot wrap itself; choose --inner rtn, gptq or dashq.", "--inner");
        }

        if (!Methods.Contains(inner))
        {
            throw new ArgumentException($"Unknown inner method '{options.Inner}'; expected one of {string.Join(", ", Methods.Where(m => m != "heroq"))}.", "--inner");
        }

        return new HeroQQuantizer(new HeroQOptions { UseRotation = options.Rotation }, Create(options with { Method = inner, Inner = null }));
    }
}
