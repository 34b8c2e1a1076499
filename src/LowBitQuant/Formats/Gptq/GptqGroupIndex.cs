using LowBitQuant.Internal;

namespace LowBitQuant.Formats.Gptq;

/// <summary>
/// Builds <c>g_idx</c>, the group of each original input column (algorithms/gptq.md §5, formats/gptq-checkpoint.md §4).
/// </summary>
internal static class GptqGroupIndex
{
    /// <summary>Natural order, static groups and GAR: g_idx[j] = j / groupWidth (all 0 with one group).</summary>
    public static int[] Identity(int columns, int groupWidth)
    {
        var gIdx = new int[columns];
        for (int j = 0; j < columns; j++)
        {
            gIdx[j] = j / groupWidth;
        }

        return gIdx;
    }

    /// <summary>Act-order with dynamic groups: g_idx[perm[k]] = k / groupWidth, where perm is the processing order.</summary>
    /// <exception cref="ArgumentException"><paramref name="permutation"/> is not a permutation of 0 … n − 1.</exception>
    public static int[] FromActOrder(ReadOnlySpan<int> permutation, int groupWidth)
    {
        if (groupWidth <= 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(groupWidth), groupWidth, "Group width must be positive.");
        }

        var gIdx = new int[permutation.Length];
        var seen = new bool[permutation.Length];
        for (int k = 0; k < permutation.Length; k++)
        {
            int j = permutation[k];
            if ((uint)j >= (uint)permutation.Length || seen[j])
            {
                ThrowHelper.ThrowArgument(nameof(permutation), $"Entry [{k}] = {j} makes this not a permutation of 0 … {permutation.Length - 1}.");
            }

            seen[j] = true;
            gIdx[j] = k / groupWidth;
        }

        return gIdx;
    }

    /// <summary>Whether g_idx equals the identity-derived j / groupWidth (so desc_act is false).</summary>
    public static bool IsIdentity(ReadOnlySpan<int> gIdx, int groupWidth)
    {
        for (int j = 0; j < gIdx.Length; j++)
        {
            if (gIdx[j] != j / groupWidth)
            {
                return false;
            }
        }

        return true;
    }
}
