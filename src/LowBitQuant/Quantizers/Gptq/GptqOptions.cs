using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>Options of <see cref="GptqQuantizer"/>. Every setter validates; invalid values throw and are never clamped.</summary>
public sealed class GptqOptions
{
    private readonly double _dampening = 0.01;
    private readonly double _dampeningIncrement = 0.01;
    private readonly double _maxDampening = 1.0;
    private readonly int _blockSize = 128;
    private readonly GptqColumnOrder _columnOrder = GptqColumnOrder.ActOrderStaticGroups;

    /// <summary>Creates options for <paramref name="scheme"/> with the defaults of algorithms/gptq.md §9.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="scheme"/> is null.</exception>
    public GptqOptions(QuantizationScheme scheme)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        Scheme = scheme;
    }

    /// <summary>The grid.</summary>
    public QuantizationScheme Scheme { get; }

    /// <summary>Initial damping λ as a fraction of mean(diag H), added to the diagonal before factorising. Default 0.01; 0 or more.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative or not finite.</exception>
    public double Dampening
    {
        get => _dampening;
        init => _dampening = Check(value, value >= 0, "Dampening must be finite and not negative.");
    }

    /// <summary>Added to the damping each time the Cholesky factorisation fails (retrying from the undamped H). Default 0.01; positive.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not positive or not finite.</exception>
    public double DampeningIncrement
    {
        get => _dampeningIncrement;
        init => _dampeningIncrement = Check(value, value > 0, "The dampening increment must be positive and finite.");
    }

    /// <summary>Largest damping tried before giving up (error, or RTN when <see cref="AllowRtnFallback"/>). Default 1.0; not below <see cref="Dampening"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative or not finite (the order against <see cref="Dampening"/> is checked by the quantizer).</exception>
    public double MaxDampening
    {
        get => _maxDampening;
        init => _maxDampening = Check(value, value >= 0, "The maximum dampening must be finite and not negative.");
    }

    /// <summary>Width of the lazy-update blocks (reference 128). Changes the speed, not the result. At least 1.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Less than 1.</exception>
    public int BlockSize
    {
        get => _blockSize;
        init
        {
            if (value < 1)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(BlockSize), value, "Block size must be at least 1.");
            }

            _blockSize = value;
        }
    }

    /// <summary>Column processing order and group layout. Default <see cref="GptqColumnOrder.ActOrderStaticGroups"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined value.</exception>
    public GptqColumnOrder ColumnOrder
    {
        get => _columnOrder;
        init
        {
            if (!Enum.IsDefined(value))
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(ColumnOrder), value, "Unknown column order.");
            }

            _columnOrder = value;
        }
    }

    /// <summary>Optional clipping search for every grid fit (unweighted, as reference GPTQ's <c>mse</c> option); <see langword="null"/> for min–max.</summary>
    public ClipSearch? ClipSearch { get; init; }

    /// <summary>
    /// Opt-in: quantize with RTN (same grid) instead of failing when no Hessian is given or H cannot be made positive definite
    /// within <see cref="MaxDampening"/>. The fallback is always recorded in <see cref="QuantizationDiagnostics.Fallback"/> and logged.
    /// </summary>
    public bool AllowRtnFallback { get; init; }

    private static double Check(double value, bool ok, string message, [System.Runtime.CompilerServices.CallerMemberName] string name = "")
    {
        if (!ok || !double.IsFinite(value))
        {
            ThrowHelper.ThrowArgumentOutOfRange(name, value, message);
        }

        return value;
    }
}
