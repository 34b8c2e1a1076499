using System.Text.Json.Nodes;
using LowBitQuant.Formats.Gptq;

namespace LowBitQuant.Tests.Formats.Gptq;

public class GptqQuantizeConfigTests
{
    [Fact]
    public void WritesTheGptqModelFieldSet()
    {
        var config = new GptqQuantizeConfig { Bits = 4, GroupSize = 128, Symmetric = true, Convention = GptqZeroConvention.V1, StaticGroups = true };
        var json = JsonNode.Parse(config.ToJson())!.AsObject();

        Assert.Equal(
            ["bits", "group_size", "desc_act", "sym", "lm_head", "quant_method", "checkpoint_format", "pack_dtype", "meta"],
            json.Select(p => p.Key));
        Assert.Equal(4, (int)json["bits"]!);
        Assert.Equal(128, (int)json["group_size"]!);
        Assert.False((bool)json["desc_act"]!);
        Assert.True((bool)json["sym"]!);
        Assert.False((bool)json["lm_head"]!);
        Assert.Equal("gptq", (string)json["quant_method"]!);
        Assert.Equal("gptq", (string)json["checkpoint_format"]!);
        Assert.Equal("int32", (string)json["pack_dtype"]!);

        var meta = json["meta"]!.AsObject();
        Assert.Equal(["quantizer", "damp_percent", "damp_auto_increment", "static_groups", "true_sequential", "mse"], meta.Select(p => p.Key));
        Assert.StartsWith("lowbitquant:", (string)meta["quantizer"]![0]!, StringComparison.Ordinal);
        Assert.Equal(0.01, (double)meta["damp_percent"]!);
        Assert.Equal(0.01, (double)meta["damp_auto_increment"]!);
        Assert.True((bool)meta["static_groups"]!);
        Assert.True((bool)meta["true_sequential"]!);
        Assert.Equal(0.0, (double)meta["mse"]!);
    }

    [Fact]
    public void NoGroupsSerialiseAsMinusOneAndV2AsGptqV2()
    {
        var json = new GptqQuantizeConfig { Bits = 2, GroupSize = null, Symmetric = false, Convention = GptqZeroConvention.V2 }.ToJsonObject();
        Assert.Equal(-1, (int)json["group_size"]!);
        Assert.Equal("gptq_v2", (string)json["checkpoint_format"]!);
        Assert.False((bool)json["sym"]!);
    }

    [Fact]
    public void InvalidFieldsAreRefusedAtSerialisation()
    {
        Assert.Throws<InvalidOperationException>(() => new GptqQuantizeConfig { Bits = 5, GroupSize = 128, Symmetric = true, Convention = GptqZeroConvention.V1 }.ToJson());
        Assert.Throws<InvalidOperationException>(() => new GptqQuantizeConfig { Bits = 4, GroupSize = 0, Symmetric = true, Convention = GptqZeroConvention.V1 }.ToJson());
    }

    [Fact]
    public void FromLayersTakesTheSharedFieldsAndDescActOnlyWhenPermuted()
    {
        var a = GptqPacker.Pack(GptqTestTensors.Random(3, 32, 64, 32, symmetric: false, seed: 1, minZero: 1));
        var b = GptqPacker.Pack(GptqTestTensors.Random(3, 64, 32, 32, symmetric: false, seed: 2, minZero: 1));
        var config = GptqQuantizeConfig.FromLayers([a, b]);
        Assert.Equal(3, config.Bits);
        Assert.Equal(32, config.GroupSize);
        Assert.False(config.Symmetric);
        Assert.False(config.DescAct);
        Assert.Equal(GptqZeroConvention.V1, config.Convention);
    }

    [Fact]
    public void FromLayersRefusesMixedConventions()
    {
        var tensor = GptqTestTensors.Random(4, 32, 64, 32, symmetric: true, seed: 3);
        var ex = Assert.Throws<ArgumentException>(() => GptqQuantizeConfig.FromLayers([GptqPacker.Pack(tensor, GptqZeroConvention.V1), GptqPacker.Pack(tensor, GptqZeroConvention.V2)]));
        Assert.Equal("layers", ex.ParamName);
        Assert.Contains("gptq_v2", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => GptqQuantizeConfig.FromLayers([]));
    }
}
