namespace LowBitQuant.Formats.DashQ;

/// <summary>The tensors of one quantized module in the DASH-Q packed format, ready to be written (formats/dashq-packed.md §2).</summary>
public sealed class DashQPackedModule
{
    internal DashQPackedModule(DashQModuleEntry entry, int[] packedCodes, Half[] scale, Half[] zero)
    {
        Entry = entry;
        PackedCodesArray = packedCodes;
        ScaleArray = scale;
        ZeroArray = zero;
    }

    /// <summary>The module's dashq_config.json entry.</summary>
    public DashQModuleEntry Entry { get; }

    /// <summary><c>&lt;module&gt;.W_q_packed</c>: I32, flat, shape [<see cref="DashQModuleEntry.PackedLength"/>].</summary>
    public ReadOnlyMemory<int> PackedCodes => PackedCodesArray;

    /// <summary><c>&lt;module&gt;.scale</c>: float16, shape [num_groups, 1], group k = row · (in / B) + column group.</summary>
    public ReadOnlyMemory<Half> Scale => ScaleArray;

    /// <summary><c>&lt;module&gt;.zero</c>: float16, shape [num_groups, 1], real-valued zero points (ŵ = (q − zero) · scale).</summary>
    public ReadOnlyMemory<Half> Zero => ZeroArray;

    internal int[] PackedCodesArray { get; }

    internal Half[] ScaleArray { get; }

    internal Half[] ZeroArray { get; }
}
