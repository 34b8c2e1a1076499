namespace LowBitQuant.Cli;

/// <summary>Options of the CLI that choose and configure a quantizer.</summary>
internal sealed record MethodOptions(string Method, QuantizationScheme Scheme)
{
    public bool ActOrder { get; init; }

    public bool StaticGroups { get; init; }

    public double? Damping { get; init; }

    public string? Inner { get; init; }
}

/// <summary>The one place the CLI maps method names to quantizers.</summary>
internal static class QuantizerFactory
{
    /// <summary>Every method name the CLI accepts, in the order the demo shows them.</summary>
    public static readonly string[] Methods = ["rtn", "gptq", "dashq", "heroq"];

    /// <summary>Methods that are implemented in this build.</summary>
    public static IEnumerable<string> Available => Methods.Where(IsImplemented);

    public static bool IsImplemented(string method) => method switch
    {
        "rtn" => true,
        "gptq" => true,
        "dashq" => true,
        "heroq" => true,
        _ => false,
    };

    /// <summary>Creates the quantizer; unknown or not yet implemented methods get a clear error.</summary>
    public static IQuantizer Create(MethodOptions options)
    {
        string method = options.Method.ToLowerInvariant();
        if (!Methods.Contains(method))
        {
            throw new ArgumentException($"Unknown method '{options.Method}'; expected one of {string.Join(", ", Methods)}.", "--method");
        }

        return method switch
        {
            "rtn" => new RtnQuantizer(options.Scheme),
            "gptq" => new GptqQuantizer(new GptqOptions(options.Scheme)
            {
                ColumnOrder = !options.ActOrder ? GptqColumnOrder.Natural : options.StaticGroups ? GptqColumnOrder.ActOrderStaticGroups : GptqColumnOrder.ActOrder,
                Dampening = options.Damping ?? 0.01,
            }),
            "dashq" => new DashQQuantizer(new DashQOptions(options.Scheme)),
            "heroq" => CreateHeroQ(options),
            _ => throw new NotSupportedException($"Method '{method}' is not implemented yet in this version of LowBitQuant."),
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

        return new HeroQQuantizer(new HeroQOptions(), Create(options with { Method = inner, Inner = null }));
    }
}
