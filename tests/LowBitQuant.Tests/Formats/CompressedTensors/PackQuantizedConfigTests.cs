using System.Text.Json.Nodes;
using LowBitQuant.Formats.CompressedTensors;

namespace LowBitQuant.Tests.Formats.CompressedTensors;

public class PackQuantizedConfigTests
{
    private static PackQuantizedLayer Layer(int bits, int? groupSize, bool symmetric, bool gIdx = false, int rows = 4, int columns = 256)
    {
        var scheme = new QuantizationScheme(bits, groupSize, symmetric);
        int groups = scheme.GroupCount(columns);
        var zeros = Enumerable.Repeat((float)scheme.SymmetricZero, rows * groups).ToArray();
        if (!symmetric)
        {
            zeros[0] = 1;
        }

        var t = new QuantizedTensor(scheme, rows, columns, new byte[rows * columns], Enumerable.Repeat(0.5f, rows * groups).ToArray(), zeros);
        return PackQuantizedPacker.Pack(t, new PackQuantizedOptions { WriteGroupIndex = gIdx });
    }

    [Fact]
    public void SymmetricGroupConfigMatchesTheSpecExample()
    {
        var modules = new Dictionary<string, PackQuantizedLayer>
        {
            ["model.layers.0.self_attn.q_proj"] = Layer(4, 128, true),
            ["model.layers.0.mlp.down_proj"] = Layer(4, 128, true, rows: 8),
        };
        var json = PackQuantizedConfig.FromModules(modules, ["lm_head"], staticActOrder: true).ToJson();
        var expected = JsonNode.Parse("""
            {
              "quant_method": "compressed-tensors",
              "format": "pack-quantized",
              "quantization_status": "compressed",
              "ignore": ["lm_head"],
              "config_groups": {
                "group_0": {
                  "targets": ["Linear"],
                  "weights": {
                    "num_bits": 4, "type": "int", "symmetric": true,
                    "strategy": "group", "group_size": 128,
                    "dynamic": false, "actorder": "weight"
                  },
                  "input_activations": null,
                  "output_activations": null
                }
              }
            }
            """);
        Assert.True(JsonNode.DeepEquals(expected, json), json.ToJsonString());
    }

    [Fact]
    public void ChannelAsymmetricWithoutActOrder()
    {
        var config = PackQuantizedConfig.FromModules([new("a", Layer(3, null, false))], []);
        var weights = config.ToJson()["config_groups"]!["group_0"]!["weights"]!;
        Assert.Equal(3, (int)weights["num_bits"]!);
        Assert.False((bool)weights["symmetric"]!);
        Assert.Equal("channel", (string)weights["strategy"]!);
        Assert.Null(weights["group_size"]);
        Assert.Null(weights["actorder"]);
        Assert.True(((JsonObject)weights).ContainsKey("actorder"));
        Assert.Empty(config.ToJson()["ignore"]!.AsArray());
    }

    [Fact]
    public void GroupIndexMeansActOrderGroup()
    {
        var config = PackQuantizedConfig.FromModules([new("a", Layer(4, 64, true, gIdx: true)), new("b", Layer(4, 64, true, gIdx: true))], ["lm_head", "re:.*gate$"]);
        Assert.Equal(ActOrder.Group, config.ActOrder);
        var json = config.ToJson();
        Assert.Equal("group", (string)json["config_groups"]!["group_0"]!["weights"]!["actorder"]!);
        Assert.Equal(new[] { "lm_head", "re:.*gate$" }, json["ignore"]!.AsArray().Select(n => (string)n!));
    }

    [Theory]
    [InlineData(3, 128, true, false, "3-bit")]
    [InlineData(4, 64, true, false, "group size 64")]
    [InlineData(4, 128, false, false, "asymmetric")]
    [InlineData(4, 128, true, true, "weight_g_idx")]
    public void DisagreeingModulesAreRejectedNamingBoth(int bits, int? groupSize, bool symmetric, bool gIdx, string expected)
    {
        var modules = new KeyValuePair<string, PackQuantizedLayer>[]
        {
            new("first", Layer(4, 128, true)),
            new("second", Layer(bits, groupSize, symmetric, gIdx)),
        };
        var ex = Assert.Throws<ArgumentException>(() => PackQuantizedConfig.FromModules(modules, []));
        Assert.Equal("modules", ex.ParamName);
        Assert.Contains("'second'", ex.Message);
        Assert.Contains("'first'", ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        Assert.Equal("modules", Assert.Throws<ArgumentException>(() => PackQuantizedConfig.FromModules([], [])).ParamName);
        Assert.Equal("ignore", Assert.Throws<ArgumentException>(() => new PackQuantizedConfig(4, true, 128, ActOrder.None, ["lm_head", " "])).ParamName);
        Assert.Equal("bits", Assert.Throws<ArgumentOutOfRangeException>(() => new PackQuantizedConfig(9, true, 128, ActOrder.None, [])).ParamName);
        Assert.Equal("groupSize", Assert.Throws<ArgumentOutOfRangeException>(() => new PackQuantizedConfig(4, true, 0, ActOrder.None, [])).ParamName);
    }
}
