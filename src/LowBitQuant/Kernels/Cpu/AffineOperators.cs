using System.Runtime.Intrinsics;

namespace LowBitQuant.Kernels.Cpu;

/// <summary>q = clamp(round(x / s + frac(z)) + int(z), 0, maxq), rounding half to even.</summary>
/// <remarks>
/// For an integral zero z this is exactly reference GPTQ's <c>clamp(round(x / s) + z, 0, maxq)</c> (division, not a reciprocal);
/// for a real-valued zero (DASH-Q) it is round(x / s + z) up to ties. Returns the code as a float.
/// </remarks>
internal readonly struct AffineQuantizeOperator
{
    private readonly float _scale;
    private readonly float _zeroInteger;
    private readonly float _zeroFraction;
    private readonly float _maxCode;

    public AffineQuantizeOperator(float scale, float zero, int maxCode)
    {
        _scale = scale;
        _zeroInteger = MathF.Round(zero);
        _zeroFraction = zero - _zeroInteger;
        _maxCode = maxCode;
    }

    public float Invoke(float x) => MathF.Max(0f, MathF.Min(MathF.Round((x / _scale) + _zeroFraction) + _zeroInteger, _maxCode));

    public Vector128<float> Invoke(Vector128<float> x) =>
        Vector128.Max(Vector128<float>.Zero, Vector128.Min(Vector128.Round((x / Vector128.Create(_scale)) + Vector128.Create(_zeroFraction)) + Vector128.Create(_zeroInteger), Vector128.Create(_maxCode)));

    public Vector256<float> Invoke(Vector256<float> x) =>
        Vector256.Max(Vector256<float>.Zero, Vector256.Min(Vector256.Round((x / Vector256.Create(_scale)) + Vector256.Create(_zeroFraction)) + Vector256.Create(_zeroInteger), Vector256.Create(_maxCode)));

    public Vector512<float> Invoke(Vector512<float> x) =>
        Vector512.Max(Vector512<float>.Zero, Vector512.Min(Vector512.Round((x / Vector512.Create(_scale)) + Vector512.Create(_zeroFraction)) + Vector512.Create(_zeroInteger), Vector512.Create(_maxCode)));
}

/// <summary>ŵ = s · (q − z).</summary>
internal readonly struct AffineDequantizeOperator(float scale, float zero)
{
    public float Invoke(float code) => scale * (code - zero);

    public Vector128<float> Invoke(Vector128<float> code) => Vector128.Create(scale) * (code - Vector128.Create(zero));

    public Vector256<float> Invoke(Vector256<float> code) => Vector256.Create(scale) * (code - Vector256.Create(zero));

    public Vector512<float> Invoke(Vector512<float> code) => Vector512.Create(scale) * (code - Vector512.Create(zero));
}

/// <summary>Scalar forms of the affine operators, for element-wise paths (gathered groups).</summary>
internal static class AffineScalar
{
    public static byte Quantize(float x, float scale, float zero, int maxCode) => (byte)new AffineQuantizeOperator(scale, zero, maxCode).Invoke(x);

    public static float Dequantize(byte code, float scale, float zero) => new AffineDequantizeOperator(scale, zero).Invoke(code);
}
