using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>
/// The same rotation applied to each of <c>heads</c> consecutive blocks of one head's width: R = I_heads ⊗ R_head. Because it
/// never mixes heads, it folds into the value projection's output rows (algorithms/heroq.md §5), and with grouped-query attention
/// the query-space and key/value-space versions act identically on every head that shares a value head.
/// </summary>
internal sealed class HeadwiseRotation : IRotation
{
    private readonly IRotation _head;

    /// <summary>Creates I_heads ⊗ <paramref name="head"/>.</summary>
    public HeadwiseRotation(IRotation head, int heads)
    {
        ArgumentNullException.ThrowIfNull(head);
        if (heads < 1)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(heads), heads, "At least one head is required.");
        }

        _head = head;
        Heads = heads;
        Size = checked(heads * head.Size);
    }

    /// <summary>Blocks (heads).</summary>
    public int Heads { get; }

    /// <inheritdoc/>
    public int Size { get; }

    /// <inheritdoc/>
    public string Descriptor => $"headwise;{Heads};{_head.Descriptor}";

    /// <summary>The same per-head rotation over <paramref name="heads"/> blocks (e.g. the key/value heads).</summary>
    public HeadwiseRotation WithHeads(int heads) => new(_head, heads);

    /// <inheritdoc/>
    public void Apply(Span<float> rows)
    {
        CheckRows(rows);
        _head.Apply(rows); // every head-wide slice of every row is one row of the head rotation
    }

    /// <inheritdoc/>
    public void ApplyTranspose(Span<float> rows)
    {
        CheckRows(rows);
        _head.ApplyTranspose(rows);
    }

    private void CheckRows(Span<float> rows)
    {
        if (rows.Length % Size != 0)
        {
            ThrowHelper.ThrowArgument(nameof(rows), $"Length {rows.Length} is not a multiple of the rotation size {Size}.");
        }
    }
}
