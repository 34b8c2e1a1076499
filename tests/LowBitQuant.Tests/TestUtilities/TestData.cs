namespace LowBitQuant.Tests.TestUtilities;

/// <summary>Seeded generators.</summary>
public static class TestData
{
    /// <summary>Uniform values in [−scale, scale).</summary>
    public static float[] Uniform(int length, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[length];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = (float)(((2 * rng.NextDouble()) - 1) * scale);
        }

        return a;
    }

    /// <summary>Gaussian values.</summary>
    public static float[] Normal(int length, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[length];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        }

        return a;
    }
}
