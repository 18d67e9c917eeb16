using PapaActors.Models.Data;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PapaActors.Models.Nets;

/// <summary>
/// CIFAR-style ResNet of basic blocks: a 3x3 stem without max pool, stages that halve the resolution,
/// global average pool, linear classifier. Where a block changes the shape, its shortcut is either
/// parameter-free (<see cref="Shortcut.ZeroPad"/>, He et al.'s option A: subsample by 2 and pad the new
/// channels with zeros) or a 1x1 conv + BN projection (<see cref="Shortcut.Projection"/>, option B).
/// ResNet-20 is He et al.'s CIFAR net (16/32/64 channels, 3 blocks a stage, option A), as the reference's
/// models/resnet20.py; ResNet-18 is the CIFAR adaptation of the ImageNet net (64..512 channels, 2 blocks a
/// stage, option B), as the reference's models/resnet.py.
/// </summary>
public sealed class ResNet : Module<Tensor, Tensor>, IPenultimateFeatures
{
    public enum Shortcut { ZeroPad, Projection }

    public sealed record Layout(int StemChannels, int[] StageChannels, int BlocksPerStage, Shortcut Shortcut);

    public static readonly Layout ResNet20 = new(16, [16, 32, 64], 3, Shortcut.ZeroPad);
    public static readonly Layout ResNet18 = new(64, [64, 128, 256, 512], 2, Shortcut.Projection);

    private readonly Module<Tensor, Tensor> conv1;
    private readonly Module<Tensor, Tensor> bn1;
    private readonly Module<Tensor, Tensor> linear;
    // Registered by hand as layer1..layerN so that tensor names match PyTorch's CIFAR ResNets.
    private readonly List<Module<Tensor, Tensor>> stages = [];

    public ResNet(Layout layout, ImageShape shape, int classes, double width) : base(nameof(ResNet))
    {
        var channels = ModelZoo.Scaled(layout.StemChannels, width);
        conv1 = Conv2d(shape.Channels, channels, 3, padding: 1, bias: false);
        bn1 = new BatchNorm2d(channels);
        for (var stage = 0; stage < layout.StageChannels.Length; stage++)
        {
            var outChannels = ModelZoo.Scaled(layout.StageChannels[stage], width);
            var blocks = new List<Module<Tensor, Tensor>>();
            for (var block = 0; block < layout.BlocksPerStage; block++)
            {
                var stride = stage > 0 && block == 0 ? 2 : 1;
                blocks.Add(new BasicBlock(channels, outChannels, stride, layout.Shortcut));
                channels = outChannels;
            }
            var sequence = Sequential(blocks);
            register_module($"layer{stage + 1}", sequence);
            stages.Add(sequence);
        }
        linear = Linear(channels, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return linear.call(Features(input)).MoveToOuterDisposeScope();
    }

    /// <summary>The globally average-pooled output of the last stage.</summary>
    public Tensor Features(Tensor input)
    {
        // Frees the stem's and each stage's intermediates here rather than in the caller's scope (see BasicBlock).
        using var scope = NewDisposeScope();
        var hidden = functional.relu(bn1.call(conv1.call(input)));
        foreach (var stage in stages)
            hidden = stage.call(hidden);
        return functional.adaptive_avg_pool2d(hidden, 1).flatten(1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Channels an option-A shortcut puts before and after the input's: the reference pads planes/4 on each side
    /// of a block that doubles its channels; a width that rounds both stages to one size pads nothing.
    /// </summary>
    public static (int Before, int After) ZeroPadding(int inChannels, int outChannels) =>
        ((outChannels - inChannels) / 2, outChannels - inChannels - (outChannels - inChannels) / 2);

    private sealed class BasicBlock : Module<Tensor, Tensor>
    {
        private readonly Module<Tensor, Tensor> conv1;
        private readonly Module<Tensor, Tensor> bn1;
        private readonly Module<Tensor, Tensor> conv2;
        private readonly Module<Tensor, Tensor> bn2;
        private readonly Module<Tensor, Tensor>? shortcut;
        private readonly int _stride;
        private readonly long[] _padding;

        public BasicBlock(int inChannels, int outChannels, int stride, Shortcut kind) : base(nameof(BasicBlock))
        {
            conv1 = Conv2d(inChannels, outChannels, 3, stride: stride, padding: 1, bias: false);
            bn1 = new BatchNorm2d(outChannels);
            conv2 = Conv2d(outChannels, outChannels, 3, padding: 1, bias: false);
            bn2 = new BatchNorm2d(outChannels);
            _stride = stride;
            var (before, after) = ZeroPadding(inChannels, outChannels);
            _padding = [0, 0, 0, 0, before, after];
            if (kind == ResNet.Shortcut.Projection && (stride != 1 || inChannels != outChannels))
                shortcut = Sequential(Conv2d(inChannels, outChannels, 1, stride: stride, bias: false), new BatchNorm2d(outChannels));
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            // PyTorch frees an intermediate as soon as nothing refers to it; TorchSharp keeps it until its dispose
            // scope ends, which held every block's activations of an evaluation batch at once (~450 MB for
            // resnet20 at batch 256). Disposing a handle only drops this reference: autograd keeps what backward reads.
            using var scope = NewDisposeScope();
            var hidden = functional.relu(bn1.call(conv1.call(input)));
            var residual = bn2.call(conv2.call(hidden));
            return functional.relu(residual.add_(ShortcutOf(input), Scalars.One)).MoveToOuterDisposeScope();
        }

        private Tensor ShortcutOf(Tensor input)
        {
            if (shortcut is not null)
                return shortcut.call(input);
            if (_stride == 1 && _padding[4] + _padding[5] == 0)
                return input;
            // Option A: every other pixel (the reference's x[:, :, ::2, ::2]) and zero channels around the input's.
            var subsampled = _stride == 1 ? input : input.slice(2, 0, input.shape[2], _stride).slice(3, 0, input.shape[3], _stride);
            return functional.pad(subsampled, _padding);
        }
    }
}
