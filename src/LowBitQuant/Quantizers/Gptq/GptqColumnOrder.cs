namespace LowBitQuant;

/// <summary>The order in which GPTQ quantizes the input columns, and how groups relate to it (algorithms/gptq.md §5).</summary>
public enum GptqColumnOrder
{
    /// <summary>Original column order; groups of consecutive columns fitted at each group start; trivial g_idx.</summary>
    Natural,

    /// <summary>
    /// Act-order (descending diag H, stable) with dynamic groups: consecutive columns in <em>processing</em> order share a grid,
    /// so the result carries a permuted g_idx (reference <c>desc_act</c>).
    /// </summary>
    ActOrder,

    /// <summary>
    /// Act-order processing with static groups: the grids of consecutive <em>original</em> columns are fitted before the solve,
    /// so g_idx stays trivial (reference <c>--static-groups</c>; the default).
    /// </summary>
    ActOrderStaticGroups,

    /// <summary>
    /// Group-aware reordering: whole original groups are processed in descending order of their largest diag H, columns inside
    /// a group by descending diag H; each group's grid is fitted when it starts; trivial g_idx (GPTQModel <c>act_group_aware</c>).
    /// </summary>
    GroupAware,
}
