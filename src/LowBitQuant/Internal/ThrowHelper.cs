using System.Diagnostics.CodeAnalysis;

namespace LowBitQuant.Internal;

/// <summary>Throw helpers shared by every public entry point, so validation messages read the same everywhere.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowArgument(string paramName, string message) => throw new ArgumentException(message, paramName);

    [DoesNotReturn]
    public static void ThrowArgumentOutOfRange(string paramName, object? actual, string message) =>
        throw new ArgumentOutOfRangeException(paramName, actual, message);

    [DoesNotReturn]
    public static void ThrowDestinationTooShort(string paramName, long required, long actual) =>
        throw new ArgumentException($"Destination is too short: {required} elements are required, {actual} were given.", paramName);

    /// <summary>Throws when <paramref name="values"/> holds NaN or ±Inf, naming the tensor and the first bad index.</summary>
    public static void ThrowIfNotFinite(ReadOnlySpan<float> values, string paramName, string tensorName, int columns = 0)
    {
        int bad = Validation.IndexOfNonFinite(values);
        if (bad < 0)
        {
            return;
        }

        string where = columns > 0 ? $"[{bad / columns}, {bad % columns}]" : $"[{bad}]";
        ThrowArgument(paramName, $"Tensor '{tensorName}' holds a non-finite value ({values[bad]}) at index {where}; quantization needs finite inputs.");
    }
}
