using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Models.Nets;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PapaActors.Tests.Models.Nets;

/// <summary>
/// The zoo against the reference (SamsungSAILMontreal/PAPA): parameter counts of the full-width CIFAR models and the
/// statistics of their initial weights, each number written down from the reference's model files.
/// </summary>
public sealed class ModelZooTests
{
    private static readonly ImageShape Cifar = new(3, 32, 32);

    // Trainable parameters, summed by hand from the reference definitions (conv k*k*in*out [+ out bias],
    // BatchNorm 2*c, linear in*out + out):
    // - models/resnet20.py resnet20: stem 432 + 32, three stages of 3 blocks with option-A (parameter-free) shortcuts
    //   14,016 + 51,072 + 203,520, linear 650 = 269,722.
    // - models/vgg.py VGG11 / VGG16 (conv with bias, BatchNorm, Linear(512, classes)): 9,220,480 conv + 5,504 BN and
    //   14,714,688 conv + 8,448 BN, plus 512 * classes + classes.
    // - models/resnet.py ResNet18 (bias-free convs, 1x1 conv + BN shortcuts, Linear(512, classes)): 11,168,832 + 513 * classes.
    [Theory]
    [InlineData("resnet20", 10, 269_722)]
    [InlineData("resnet20", 100, 275_572)]
    [InlineData("vgg11", 10, 9_231_114)]
    [InlineData("vgg16", 100, 14_774_436)]
    [InlineData("resnet18", 10, 11_173_962)]
    [InlineData("resnet18", 100, 11_220_132)]
    public void FullWidthModelsHaveTheReferenceParameterCount(string name, int classes, long parameters)
    {
        using var model = ModelZoo.Create(name, Cifar, classes, 1.0, initSeed: 1);
        Assert.Equal(parameters, model.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Resnet20ShortcutsHaveNoParametersAndPadTheNewChannelsWithZeros()
    {
        using var model = ModelZoo.Create("resnet20", Cifar, 10, 1.0, initSeed: 1);
        Assert.DoesNotContain(model.named_parameters(), p => p.name.Contains("shortcut"));
        Assert.DoesNotContain(model.named_buffers(), b => b.name.Contains("shortcut"));
        // models/resnet20.py lines 48-49: x[:, :, ::2, ::2] padded with planes // 4 zero channels on each side.
        Assert.Equal((8, 8), ResNet.ZeroPadding(16, 32));
        Assert.Equal((16, 16), ResNet.ZeroPadding(32, 64));
    }

    [Fact]
    public void Resnet20WeightsAreKaimingNormal()
    {
        // models/resnet20.py line 15: init.kaiming_normal_(m.weight) for every nn.Linear and nn.Conv2d (applied to the
        // whole net by ResNet.__init__): mode fan_in, ReLU gain, so std = sqrt(2 / fan_in). The linear bias keeps
        // PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BatchNorm starts at weight 1, bias 0.
        using var model = ModelZoo.Create("resnet20", Cifar, 10, 1.0, initSeed: 3);
        foreach (var (name, module) in model.named_modules())
        {
            if (module is Conv2d or Linear)
            {
                var weight = module is Conv2d conv ? conv.weight! : ((Linear)module).weight!;
                var fanIn = weight.numel() / weight.shape[0];
                AssertNormal(weight, Math.Sqrt(2.0 / fanIn), name);
            }
        }
        var linear = model.named_modules().Select(m => m.module).OfType<Linear>().Single();
        Assert.True(linear.bias!.abs().max().item<float>() <= 1.000001 / Math.Sqrt(64), "linear bias outside U(-1/8, 1/8)");
        AssertBatchNormStartsAtIdentity(model);
    }

    [Theory]
    [InlineData("vgg11")]
    [InlineData("resnet18")]
    [InlineData("cnn")]
    [InlineData("mlp")]
    public void OtherModelsKeepPyTorchsDefaultUniformInit(string name)
    {
        // models/vgg.py (_make_layers) and models/resnet.py build nn.Conv2d / nn.Linear without any init of their own, so
        // PyTorch's reset_parameters applies: kaiming_uniform_(a = sqrt(5)), i.e. U(-b, b) with b = 1/sqrt(fan_in)
        // (std b / sqrt(3)), and the bias from the same range. Our mlp and cnn have no reference model and do the same.
        using var model = ModelZoo.Create(name, name is "mlp" or "cnn" ? new ImageShape(1, 28, 28) : Cifar, 10, 1.0, initSeed: 3);
        foreach (var (layer, module) in model.named_modules().Where(m => m.module is Conv2d or Linear))
        {
            var (weight, bias) = module is Conv2d conv ? (conv.weight!, conv.bias) : (((Linear)module).weight!, ((Linear)module).bias);
            // float32 rounding of the drawn values may pass the double bound in its last bit
            var bound = 1.000001 / Math.Sqrt(weight.numel() / weight.shape[0]);
            Assert.True(weight.abs().max().item<float>() <= bound, $"{layer}: a weight outside U(-{bound}, {bound})");
            if (weight.numel() >= 1000)
                Assert.InRange(weight.std().item<float>() / (bound / Math.Sqrt(3)), 0.95, 1.05);
            if (bias is not null)
                Assert.True(bias.abs().max().item<float>() <= bound, $"{layer}: a bias outside U(-{bound}, {bound})");
        }
        if (name != "mlp")
            AssertBatchNormStartsAtIdentity(model);
    }

    private static void AssertNormal(Tensor weight, double std, string layer)
    {
        var measured = weight.std().item<float>();
        // Relative standard error of a sample std is 1/sqrt(2n): 2.5% for the smallest layer here (432 weights).
        var tolerance = 4 / Math.Sqrt(2.0 * weight.numel());
        Assert.True(Math.Abs(measured / std - 1) < tolerance, $"{layer}: std {measured}, expected {std} (+-{tolerance:P1})");
        Assert.True(Math.Abs(weight.mean().item<float>()) < 4 * std / Math.Sqrt(weight.numel()), $"{layer}: mean not ~0");
        // A normal draw has tails beyond the uniform's range: 3 std is passed by 0.27% of the weights.
        Assert.True(weight.abs().max().item<float>() > 3 * std || weight.numel() < 1000, $"{layer}: no tail, not a normal draw");
    }

    private static void AssertBatchNormStartsAtIdentity(nn.Module model)
    {
        var norms = model.named_modules().Where(m => m.module is PapaActors.Models.Nets.BatchNorm2d).ToList();
        Assert.NotEmpty(norms);
        foreach (var (name, norm) in norms)
        {
            foreach (var (parameter, value) in norm.named_parameters())
            {
                var expected = parameter == "weight" ? Scalars.One : Scalars.Zero;
                Assert.True(value.eq(expected).all().item<bool>(), $"{name}.{parameter} does not start at {(parameter == "weight" ? 1 : 0)}");
            }
        }
    }
}
