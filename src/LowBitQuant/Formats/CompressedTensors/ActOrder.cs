namespace LowBitQuant.Formats.CompressedTensors;

/// <summary>The <c>actorder</c> label of a compressed-tensors weight config (compressed-tensors.md §4).</summary>
public enum ActOrder
{
    /// <summary>No activation ordering (<c>null</c>).</summary>
    None,

    /// <summary>
    /// Columns were processed in activation order but groups stay consecutive (<c>"weight"</c>, alias <c>"static"</c>;
    /// GAR / static act-order). Nothing extra is stored.
    /// </summary>
    Weight,

    /// <summary>Act-order with dynamic groups (<c>"group"</c>, alias <c>"dynamic"</c>): every module stores <c>weight_g_idx</c>.</summary>
    Group,
}
